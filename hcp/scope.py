"""The one ``Scope``: what a reader may see, or what a report, queue or job covers.

A scope is a region subtree (a code prefix: 2 digits a province, 4 a city, 6 a county; '' everywhere) and
optionally one department. The dashboard gives every user one (a province office sees everything, a city
office its city, a department its own rows); a bulletin covers one; the supervision queues read one. It is
applied **in SQL** by the query layer (:func:`warehouse.queries.sql.scope_condition`), never by hiding rows
afterwards.

>>> Scope.of_region("370200000000").level, Scope.of_region("370200000000").grouping
('city', 'region:city')
>>> Scope().code, Scope().level, Scope().unit()
('all', 'all', ('all', 'all'))
>>> Scope.of_region("370200000000").narrow(dept="D1").unit()
('dept', 'D1')
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hcp.domain import REGION_PREFIX
from hcp.workdays import region_prefix as _region_prefix

#: The level of a region subtree by the width of its code prefix ('' is the whole warehouse).
LEVEL_OF_WIDTH = {0: "all", 2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}


class NotPermitted(Exception):
    """The requested unit or record lies outside the reader's scope."""


@dataclass(frozen=True)
class Scope:
    """A region subtree (``region_prefix``; '' = everywhere) and optionally one department (``dept_code``).

    ``role`` is the reader's role (``province`` | ``region`` | ``dept``); narrowing keeps it. ``name`` is the
    subtree's name where one is known (a bulletin's title), else ''.
    """

    role: str = "province"
    region_prefix: str = ""
    dept_code: str | None = None
    name: str = ""

    # constructors -------------------------------------------------------------------------------------
    @classmethod
    def everywhere(cls, name: str = "") -> "Scope":
        return cls(name=name)

    @classmethod
    def of_region(cls, region_code: str, name: str = "", role: str = "region") -> "Scope":
        """A region's subtree by its 12-digit code (or a prefix); '' or ``all`` is everywhere."""
        if not region_code or region_code == "all":
            return cls(name=name)
        return cls(role=role, region_prefix=_region_prefix(region_code), name=name)

    @classmethod
    def of_dept(cls, dept_code: str, region_code: str = "") -> "Scope":
        """One department (inside a region subtree if its region is given)."""
        return cls(role="dept", region_prefix=_region_prefix(region_code), dept_code=dept_code)

    # what it is ---------------------------------------------------------------------------------------
    @property
    def unrestricted(self) -> bool:
        return not self.region_prefix and not self.dept_code

    @property
    def level(self) -> str:
        """``all`` | ``province`` | ``city`` | ``county`` (| ``township`` | ``village``) of the region subtree."""
        return LEVEL_OF_WIDTH.get(len(self.region_prefix), "village")

    @property
    def code(self) -> str:
        """``all`` or the 12-digit code of the subtree's region."""
        return self.region_prefix.ljust(12, "0") if self.region_prefix else "all"

    @property
    def grouping(self) -> str:
        """The ``group_metrics`` grouping of the subtree's region (``all`` for everywhere)."""
        return "all" if self.level == "all" else f"region:{self.level}"

    def unit(self) -> tuple[str, str] | None:
        """The (grouping, group code) of ``group_metrics`` that is exactly this scope, if there is one."""
        if self.dept_code:
            return "dept", self.dept_code
        width = len(self.region_prefix)
        if width == 0:
            return "all", "all"
        for level in ("province", "city", "county"):
            if REGION_PREFIX[level] == width:
                return f"region:{level}", self.code
        return None

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "level": self.level, "grouping": self.grouping}

    # narrowing ----------------------------------------------------------------------------------------
    def narrow(self, region: str | None = None, dept: str | None = None) -> "Scope":
        """This scope limited to a region subtree and/or a department; :class:`NotPermitted` if that lies
        outside it. A region above the reader's own leaves the scope as it is."""
        scope = self
        if region:
            prefix = _region_prefix(region)
            if prefix.startswith(scope.region_prefix):
                scope = replace(scope, region_prefix=prefix)
            elif not scope.region_prefix.startswith(prefix):
                raise NotPermitted(region)
        if dept:
            if scope.dept_code and scope.dept_code != dept:
                raise NotPermitted(dept)
            scope = replace(scope, dept_code=dept)
        return scope
