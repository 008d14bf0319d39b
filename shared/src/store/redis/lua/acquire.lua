-- acquire: takes the leases of shards that are free (docs/architecture.md §10), one or many at a time.
-- KEYS[1] stock:{sN}:lease   KEYS[2] stock:{sN}:epoch   of the first shard, then the same pair
--   for each further shard (KEYS[2i-1], KEYS[2i]); on a cluster one shard per call, as keys of
--   different shards live in different slots.
-- ARGV[1] worker id   ARGV[2] ttl in ms (>= 1)   ARGV[2+i] nonce of the i-th shard (generated
--   by the caller)
-- Returns one answer per shard, in order: its new epoch, or false (nil) when the lease is held.
-- The token stored in the lease is built here, `worker/epoch/nonce`, because only the script
-- knows the epoch it assigned.
local answers = {}
for i = 1, #KEYS / 2 do
  local lease = KEYS[2 * i - 1]
  if redis.call('EXISTS', lease) == 1 then
    answers[i] = false
  else
    local epoch = redis.call('INCR', KEYS[2 * i])
    redis.call('SET', lease, ARGV[1] .. '/' .. epoch .. '/' .. ARGV[2 + i], 'PX', ARGV[2])
    answers[i] = epoch
  end
end
return answers
