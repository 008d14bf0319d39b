-- settle: what became of a write the HTTP tier stopped waiting for (store/mod.rs `Settled`).
-- KEYS[1] stock:{sN}:req:<loc>:<requestId>
-- ARGV[1] the write's deadline, ms since the Unix epoch in store time
-- Returns {0} while TIME (ms) <= deadline (pending), {1} when past it without a record (not
-- applied: the commit script refuses the write from now on), {2, record JSON} when recorded.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now <= tonumber(ARGV[1]) then
  return {0}
end
local record = redis.call('GET', KEYS[1])
if record then
  return {2, record}
end
return {1}
