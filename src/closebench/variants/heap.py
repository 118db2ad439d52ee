"""`[heap]`: the free heap the firmware has when its app starts (issue 27).

On the boards lwIP allocates PCBs, segments and pbufs from the firmware's heap, a few tens of
KB on an ESP8266. The device program gets this figure as its heap budget (`--heap-bytes`):
the stack's allocator (the SDK shim's os_malloc/pvPortMalloc for the Espressif forks, lwIP's
mem_malloc where MEM_LIBC_MALLOC) fails past it, as the chip's does. The figure is a reading
taken after boot with the interpreter and the app loaded (node.heap(), ESP.getFreeHeap(),
esp_get_free_heap_size()), so their own use is already taken out of it; where a reading comes
from another app, `note` says so.

```toml
[heap]
free_bytes = 21064
cite = { path = "docs/en/lua-developer-faq.md", note = "node.heap() ... (line 325)" }
where = "https://..."   # a published reading outside the repositories (cite, where or both)
note = "what the reading was taken on, and how close that is to this variant's app"
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from closebench.variants.schema import Table

# An ESP32 has 520 KB of SRAM in all; anything above is a typo.
MOST_BYTES = 512 * 1024
LEAST_BYTES = 1024


@dataclass(frozen=True)
class Heap:
    free_bytes: int
    cite: Any  # manifest.Citation or None (kept untyped here: manifest imports this module)
    where: str  # a published reading's address, or ""
    note: str

    def device_args(self) -> list[str]:
        return ["--heap-bytes", str(self.free_bytes)]

    def record(self) -> dict[str, Any]:
        """What the run manifest and the report carry about the budget."""
        sources = [str(self.cite)] if self.cite is not None else []
        sources += [self.where] if self.where else []
        return {"free_bytes": self.free_bytes, "sources": sources, "note": self.note}


def parse_heap(table: Table, citation: Callable[[Table], Any]) -> Heap:
    table.check_keys(required=("free_bytes", "note"), optional=("cite", "where"))
    free = table.get("free_bytes", int)
    if not LEAST_BYTES <= free <= MOST_BYTES:
        raise table.fail("free_bytes", f"must be {LEAST_BYTES}..{MOST_BYTES} bytes, got {free}")
    if "cite" not in table.data and "where" not in table.data:
        raise table.fail("cite", "missing: cite the reading (cite = {...} and/or where = URL)")
    cite = citation(table.sub("cite")) if "cite" in table.data else None
    return Heap(free, cite, table.get("where", str, ""), table.text("note"))
