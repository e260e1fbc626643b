"""The shared budget store on Redis: ``costtrail gateway --budget-store redis://HOST:PORT/DB``.

Each budget period has three keys: a hash of ``spent`` and ``reserved``
(integers, see ``budget_store.to_units``), a hash of live holds (reservation id
to amount) and a sorted set of their lease expiries. Reserving and settling
are Lua scripts, so each is atomic on the server; expired holds are released
by whichever script touches the budget next (no process has to survive for
that). Times are the Redis server's clock, so gateways' clocks do not matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from costtrail.controls.budget_store import Admission, BudgetStoreUnavailable, Hold

_EXPIRE = """
local function release_expired(b, h, l, now)
  local dead = redis.call('ZRANGEBYSCORE', l, '-inf', now)
  for _, r in ipairs(dead) do
    local a = redis.call('HGET', h, r)
    if a then
      redis.call('HINCRBY', b, 'reserved', -tonumber(a))
      redis.call('HDEL', h, r)
    end
    redis.call('ZREM', l, r)
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: (budget, holds, leases) per hold. ARGV: reservation, lease ms, then per hold limit,
# amount, enforce (1/0), keep seconds. Returns {allowed, denied index, spent1, reserved1, ...}.
_RESERVE = (
    _EXPIRE
    + """
local rid, lease = ARGV[1], tonumber(ARGV[2])
local n = #KEYS / 3
local out = {1, 0}
for i = 1, n do
  local b, h, l = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  release_expired(b, h, l, now)
  out[1 + 2*i] = tonumber(redis.call('HGET', b, 'spent') or '0')
  out[2 + 2*i] = tonumber(redis.call('HGET', b, 'reserved') or '0')
end
for i = 1, n do
  local base = 2 + (i - 1) * 4
  local limit, amount = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local committed = out[1 + 2*i] + out[2 + 2*i]
  if ARGV[base + 3] == '1' and (committed >= limit or committed + amount > limit) then
    out[1], out[2] = 0, i
    return out
  end
end
for i = 1, n do
  local b, h, l = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  local base = 2 + (i - 1) * 4
  local amount, keep = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 4])
  redis.call('HINCRBY', b, 'reserved', amount)
  redis.call('HSET', h, rid, amount)
  redis.call('ZADD', l, now + lease, rid)
  for _, k in ipairs({b, h, l}) do redis.call('EXPIRE', k, keep) end
end
return out
"""
)

# KEYS: (budget, holds, leases) per budget. ARGV: reservation, then per budget the actual amount
# ('' for none). Returns each budget's spend.
_SETTLE = (
    _EXPIRE
    + """
local rid = ARGV[1]
local out = {}
for i = 1, #KEYS / 3 do
  local b, h, l = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  release_expired(b, h, l, now)
  local a = redis.call('HGET', h, rid)
  if a then
    redis.call('HINCRBY', b, 'reserved', -tonumber(a))
    redis.call('HDEL', h, rid)
    redis.call('ZREM', l, rid)
  end
  if ARGV[1 + i] ~= '' then redis.call('HINCRBY', b, 'spent', ARGV[1 + i]) end
  out[i] = tonumber(redis.call('HGET', b, 'spent') or '0')
end
return out
"""
)

_TOTALS = (
    _EXPIRE
    + """
local out = {}
for i = 1, #KEYS / 3 do
  local b, h, l = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  release_expired(b, h, l, now)
  out[2*i - 1] = tonumber(redis.call('HGET', b, 'spent') or '0')
  out[2*i] = tonumber(redis.call('HGET', b, 'reserved') or '0')
end
return out
"""
)

_SEED = """
redis.call('HSETNX', KEYS[1], 'spent', ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return tonumber(redis.call('HGET', KEYS[1], 'spent'))
"""


class RedisBudgetStore:
    """A :class:`~costtrail.controls.budget_store.BudgetStore` on one Redis database.

    Given a Redis server::

        store = RedisBudgetStore("redis://127.0.0.1:6379/0")
    """

    def __init__(self, url: str, *, prefix: str = "costtrail:budget", timeout_s: float = 0.5) -> None:
        try:
            self._redis = redis.Redis.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
            )
        except ValueError as exc:
            raise ValueError(f"--budget-store {url!r}: {exc} (use redis://HOST:PORT/DB)") from None
        self.url = url
        self._prefix = prefix
        self._reserve = self._redis.register_script(_RESERVE)
        self._settle = self._redis.register_script(_SETTLE)
        self._totals = self._redis.register_script(_TOTALS)
        self._seed = self._redis.register_script(_SEED)

    def _keys(self, keys: Sequence[str]) -> list[str]:
        # One hash tag per budget period keeps its three keys in one slot of a Redis Cluster.
        return [f"{self._prefix}:{{{k}}}:{part}" for k in keys for part in ("counters", "holds", "leases")]

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BudgetStoreUnavailable(f"the budget store {self.url} is unreachable: {exc}") from exc

    def seed(self, key: str, spent: int, keep_seconds: int) -> int:
        return int(self._run(self._seed, self._keys([key])[:1], [spent, keep_seconds]))

    def reserve(self, reservation: str, holds: Sequence[Hold], lease_seconds: float) -> Admission:
        args: list[Any] = [reservation, max(1, int(lease_seconds * 1000))]
        for h in holds:
            args += [h.limit, h.amount, 1 if h.enforce else 0, h.keep_seconds]
        out = [int(v) for v in self._run(self._reserve, self._keys([h.key for h in holds]), args)]
        return Admission(
            allowed=out[0] == 1,
            denied=out[1] - 1 if out[0] == 0 else None,
            spent=tuple(out[2::2]),
            reserved=tuple(out[3::2]),
        )

    def settle(self, reservation: str, keys: Sequence[str], actual: Sequence[int | None]) -> list[int]:
        args = [reservation, *("" if a is None else a for a in actual)]
        return [int(v) for v in self._run(self._settle, self._keys(keys), args)]

    def totals(self, keys: Sequence[str]) -> list[tuple[int, int]]:
        out = [int(v) for v in self._run(self._totals, self._keys(keys), [])]
        return list(zip(out[0::2], out[1::2], strict=True))

    def close(self) -> None:
        self._redis.close()
