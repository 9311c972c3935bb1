"""Dashboard users: a TOML file of hashed passwords and three roles, each mapped to a data scope.

The file is ``$HCP_USERS`` if set, else ``$HCP_HOME/users.toml`` (mode 0600)::

    [users.qingdao]
    name = "青岛市政务服务管理办公室"
    role = "region"              # province | region | dept
    region = "370200000000"      # region: the office's region (its subtree is visible)
    dept = ""                    # dept: the department code (only its own cases and ratings)
    password = "scrypt$16384$8$1$<salt>$<hash>"

Passwords are hashed with scrypt (``hashlib.scrypt``, N=2^14, r=8, p=1) and a random 16-byte salt per
user; verification is constant-time. A province office sees everything (or its province, if a region is
given); a city or county office sees its region subtree (code prefix of 4 or 6 digits); a department sees
only its own cases and ratings. The scope is enforced in SQL by :mod:`dashboard.data`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dashboard import login_guard
from hcp import workdays
from hcp.errors import HcpError
from hcp.scope import Scope
from hcp.settings import users_path
from warehouse.queries.reference import busiest_department, region_rows

ROLES = ("province", "region", "dept")
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_REGION = re.compile(r"^\d{12}$")


# Password hashing ---------------------------------------------------------------------------------------
def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64) of a password with a fresh random salt."""
    if not password:
        raise ValueError("empty password")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, maxmem=64 * 1024 * 1024, **_SCRYPT)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True iff ``password`` hashes to ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected), maxmem=64 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY_HASH = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(8))
    return _DUMMY_HASH


# Users --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class User:
    username: str
    role: str
    name: str = ""
    region: str = ""
    dept: str = ""

    def scope(self) -> Scope:
        """The data this user may read."""
        if self.role == "dept":
            return Scope(role="dept", dept_code=self.dept, region_prefix="")
        return Scope(role=self.role, region_prefix=region_prefix(self.region) if self.region else "")


def region_prefix(code: str) -> str:
    """:func:`hcp.workdays.region_prefix` of a user's region, which must be a 12-digit code (or '')."""
    if code and not _REGION.match(code):
        raise ValueError(f"{code!r} is not a 12-digit region code")
    return workdays.region_prefix(code)


def validate_user(user: User) -> None:
    if not _NAME.match(user.username):
        raise HcpError(f"用户名只能含字母、数字、._- / user name may hold letters, digits and ._- only: {user.username!r}")
    if user.role not in ROLES:
        raise HcpError(f"角色须为 {'/'.join(ROLES)} / role must be one of {', '.join(ROLES)}")
    if user.role == "dept" and not user.dept:
        raise HcpError("部门用户须指定部门编码 / a department user needs --dept")
    if user.role == "region":
        if not user.region:
            raise HcpError("市县用户须指定行政区划 / a city or county office needs --region")
        if len(region_prefix(user.region)) not in (4, 6):
            raise HcpError("市县用户的区划须为市级或县级 / a region office's region must be a city or a county")
    if user.region:
        try:
            region_prefix(user.region)
        except ValueError as exc:
            raise HcpError(str(exc)) from exc


def _read(path: Path) -> dict:
    if not path.exists():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8")).get("users", {})


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write(path: Path, users: dict) -> None:
    lines = ["# hcp dashboard users (hcp users add / remove). Passwords are scrypt hashes.", ""]
    for username in sorted(users):
        record = users[username]
        lines.append(f"[users.{_quote(username)}]")
        for key in ("name", "role", "region", "dept", "password"):
            lines.append(f"{key} = {_quote(str(record.get(key, '')))}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    os.replace(tmp, path)


def list_users(path: Path | None = None) -> list[User]:
    records = _read(path or users_path())
    return [User(username=u, role=r.get("role", ""), name=r.get("name", ""), region=r.get("region", ""),
                 dept=r.get("dept", "")) for u, r in sorted(records.items())]


def get_user(username: str, path: Path | None = None) -> User | None:
    record = _read(path or users_path()).get(username)
    if record is None:
        return None
    return User(username=username, role=record.get("role", ""), name=record.get("name", ""),
                region=record.get("region", ""), dept=record.get("dept", ""))


def password_hash(username: str, path: Path | None = None) -> str | None:
    """The stored password hash of a user (None for no such user): what a session is bound to, so a new
    password or a removed user ends the user's sessions (:mod:`dashboard.sessions`)."""
    record = _read(path or users_path()).get(username)
    return None if record is None else str(record.get("password", ""))


#: Passwords nobody may choose (compared lower-case): the demo's shared password is for demo users only.
_COMMON_PASSWORDS = {
    "demo-pass", "password", "password1", "password123", "12345678", "123456789", "1234567890", "qwertyuiop",
    "11111111", "88888888", "66666666", "abc12345", "abcd1234", "admin123", "admin@123", "iloveyou",
    "a1234567", "qwer1234", "1q2w3e4r", "p@ssw0rd", "passw0rd", "zaq12wsx",
}
MIN_PASSWORD_CHARS = 10


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password is too weak for a dashboard user (bilingual), or None: at least
    :data:`MIN_PASSWORD_CHARS` characters of at least three kinds (lower case, upper case, digits, other),
    not a well-known password and not containing the user name."""
    kinds = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    if len(password) < MIN_PASSWORD_CHARS or kinds < 3:
        return (f"密码至少 {MIN_PASSWORD_CHARS} 位，且含小写字母、大写字母、数字、符号中的三类 / the password needs "
                f"at least {MIN_PASSWORD_CHARS} characters of three kinds (lower case, upper case, digits, symbols)")
    if password.lower() in _COMMON_PASSWORDS:
        return "这是常见密码，请换一个 / this is a well-known password; choose another"
    if len(username) >= 3 and username.lower() in password.lower():
        return "密码不能包含用户名 / the password must not contain the user name"
    return None


def add_user(user: User, password: str, path: Path | None = None, *, replace: bool = False,
             demo: bool = False) -> None:
    """Create (or with ``replace``, update) a user with a freshly salted password hash. The password must
    pass :func:`password_problem`, except for the demo users ``hcp demo`` creates (``demo``)."""
    validate_user(user)
    problem = None if demo else password_problem(password, user.username)
    if problem:
        raise HcpError(problem)
    if not password:
        raise HcpError("密码不能为空 / the password must not be empty")
    path = path or users_path()
    users = _read(path)
    if user.username in users and not replace:
        raise HcpError(f"用户 {user.username} 已存在 / user {user.username} exists (use --replace)")
    users[user.username] = {"name": user.name, "role": user.role, "region": user.region, "dept": user.dept,
                            "password": hash_password(password)}
    _write(path, users)


def remove_user(username: str, path: Path | None = None) -> bool:
    path = path or users_path()
    users = _read(path)
    if username not in users:
        return False
    del users[username]
    _write(path, users)
    return True


def authenticate(username: str, password: str, path: Path | None = None, *, client: str = "") -> User | None:
    """The user if the password is right, else None (the same work is done for unknown names).

    Every attempt goes through :mod:`dashboard.login_guard`: recorded, slowed after repeated failures, and
    refused outright while the user name or the client is locked out (see :func:`lockout`)."""
    def check() -> User | None:
        record = _read(path or users_path()).get(username or "")
        if record is None:
            verify_password(password or "", _dummy_hash())
            return None
        if not verify_password(password or "", record.get("password", "")):
            return None
        return get_user(username, path)

    user, _ = login_guard.guarded(username or "", client, check)
    return user


def lockout(username: str, client: str = "") -> login_guard.Verdict:
    """Whether logins as ``username`` (or from ``client``) are locked out now, and until when."""
    return login_guard.current_verdict(username or "", client)


# Demo users ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    scope_name: str


def create_demo_users(wh, *, password: str = "demo-pass", path: Path | None = None) -> list[DemoUser]:
    """One user per role for a demo warehouse: the province office, the first city's office, the first
    county's office and the department with the most cases. Existing users of the same names are replaced.

    Returns the created users and their (shared) password, for `hcp demo` to print.
    """
    regions = region_rows(wh)
    province = next(((c, n) for c, n in regions if len(region_prefix(c)) == 2), None)
    city = next(((c, n) for c, n in regions if len(region_prefix(c)) == 4), None)
    county = next(((c, n) for c, n in regions if len(region_prefix(c)) == 6), None)
    dept = busiest_department(wh)
    created: list[DemoUser] = []

    def make(username: str, role: str, name: str, region: str = "", dept_code: str = "") -> None:
        add_user(User(username=username, role=role, name=name, region=region, dept=dept_code), password, path,
                 replace=True, demo=True)
        created.append(DemoUser(username, password, role, name))

    make("province", "province", (province[1] if province else "全省") + "政务服务管理办公室",
         province[0] if province else "")
    if city:
        make("city", "region", f"{city[1]}政务服务管理办公室", city[0])
    if county:
        make("county", "region", f"{county[1]}政务服务管理办公室", county[0])
    if dept:
        make("dept", "dept", dept[1], dept_code=dept[0])
    return created
