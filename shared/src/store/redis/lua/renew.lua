-- renew: extends shard leases that still hold the caller's tokens (compare-and-PEXPIRE each),
-- one or many at a time.
-- KEYS[1] stock:{sN}:lease of the first lease, KEYS[i] of the i-th; on a cluster one lease per
--   call, as keys of different shards live in different slots.
-- ARGV[1] ttl in ms (>= 1)   ARGV[1+i] token value `worker/epoch/nonce` of KEYS[i]
-- Returns one answer per lease, in order: 1 when renewed, 0 when the lease is gone or held by
-- another token.
local answers = {}
for i, lease in ipairs(KEYS) do
  if redis.call('GET', lease) == ARGV[1 + i] then
    answers[i] = redis.call('PEXPIRE', lease, ARGV[1])
  else
    answers[i] = 0
  end
end
return answers
