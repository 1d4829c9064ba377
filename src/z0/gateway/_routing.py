"""From a request path to a script name, by the naming convention, as data (settings `routes`).

    {"/webhook/": "{tenant_id}-webhook", "/integrations/{name}/": "{tenant_id}-integration-{name}"}

A prefix may hold one `{name}` segment; the longest matching prefix wins; any other path goes to
`{tenant_id}`. The worker sees the whole path: prefixes are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["Router"]

_SEGMENT = re.compile(r"\{([a-z_]+)\}")
_NAME_VALUE = re.compile(r"[a-z0-9_-]{1,40}")


class Router:
    def __init__(self, routes: Mapping[str, str]) -> None:
        self._exact: list[tuple[str, str]] = []
        self._templated: list[tuple[str, str, str]] = []
        for prefix, template in sorted(routes.items(), key=lambda item: -len(item[0])):
            if not prefix.startswith("/") or not prefix.endswith("/"):
                raise ValueError(f"route prefix {prefix!r} must start and end with '/'")
            if "{tenant_id}" not in template:
                raise ValueError(f"route {prefix!r} → {template!r} must name {{tenant_id}}")
            names = _SEGMENT.findall(prefix)
            if not names:
                self._exact.append((prefix, template))
            elif len(names) == 1 and prefix.endswith("{" + names[0] + "}/") and prefix.count("{") == 1:
                self._templated.append((prefix[: prefix.index("{")], names[0], template))
            else:
                raise ValueError(f"route prefix {prefix!r} may hold one {{name}}, as its last segment")

    def script_for(self, tenant_id: str, path: str) -> str | None:
        """The script that serves this path, or None when a templated segment is not a valid name."""
        for prefix, template in self._exact:
            if path.startswith(prefix) or path == prefix[:-1]:
                return template.format(tenant_id=tenant_id)
        for head, name, template in self._templated:
            if path.startswith(head):
                value = path[len(head) :].split("/", 1)[0]
                if not _NAME_VALUE.fullmatch(value):
                    return None
                return template.format(tenant_id=tenant_id, **{name: value})
        return tenant_id
