-- release: deletes a shard's lease if it still holds the caller's token (compare-and-DEL).
-- KEYS[1] stock:{sN}:lease
-- ARGV[1] token value `worker/epoch/nonce`
-- Returns 1 when released, 0 when the lease is gone or held by another token.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
