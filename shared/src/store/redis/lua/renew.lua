-- renew: extends a shard's lease if it still holds the caller's token (compare-and-PEXPIRE).
-- KEYS[1] stock:{sN}:lease
-- ARGV[1] token value `worker/epoch/nonce`   ARGV[2] ttl in ms (>= 1)
-- Returns 1 when renewed, 0 when the lease is gone or held by another token.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
