-- commit: applies one batch of one shard atomically, fenced by the lease (docs/architecture.md §10, §5).
-- KEYS[1] lease   KEYS[2] applied   KEYS[3] cmd stream   KEYS[4] outbox   KEYS[5] dead-letter stream
--   then, for pot write i = 1..n: KEYS[3i+3] pot hash, KEYS[3i+4] event list, KEYS[3i+5] checkpoint list
--   then one idempotency record key per entry of `records`, in order
--   then one credit marker key per credited move id (all remaining keys)
-- ARGV[1] lease token value   ARGV[2] min deadline in ms, '' for none   ARGV[3] applied id 'ms-seq'
-- ARGV[4] retention in ms (>= 1)   ARGV[5] the batch as JSON, every leaf a string so that cjson
--   never rounds a number:
--   {"pots":[{"position":"7","event":"<json>","quantity":"5","pendingAdjustment":"0",
--             "lastUpdated":"2024-12-07T10:00:00","truncate":"2","checkpoint":"<json>"}],
--    "records":["<json>"],"outboxPut":[["<moveId>","<json>"]],"outboxRemove":["<moveId>"]}
--   (`truncate` and `checkpoint` are omitted when absent).
-- ARGV[6] approximate cap on the dead-letter stream's length
-- ARGV[7..] stream entries that did not decode, each: its id, the error, a field count m, then m
--   field names and values (binary-safe, hence outside the JSON); each is added to KEYS[5].
-- Returns 'OK'; 'STALE' or 'EXPIRED' having written nothing; or 'POSITION <i> <position> <version>'
-- having written nothing when pot write i does not land right after the pot's stored version.
-- Everything is validated before the first write, so a refused batch leaves no trace.

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 'STALE'
end
if ARGV[2] ~= '' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now > tonumber(ARGV[2]) then
    return 'EXPIRED'
  end
end

local batch = cjson.decode(ARGV[5])
local pots = batch.pots
local versions = {}
for i, w in ipairs(pots) do
  local key = KEYS[3 * i + 3]
  local version = versions[key]
  if version == nil then
    version = tonumber(redis.call('HGET', key, 'version') or '0')
  end
  if tonumber(w.position) ~= version + 1 then
    return 'POSITION ' .. i .. ' ' .. w.position .. ' ' .. version
  end
  versions[key] = version + 1
end

for i, w in ipairs(pots) do
  local pot, events, stack = KEYS[3 * i + 3], KEYS[3 * i + 4], KEYS[3 * i + 5]
  redis.call('RPUSH', events, w.event)
  if w.truncate then
    local keep = tonumber(w.truncate)
    if keep == 0 then
      redis.call('DEL', stack)
    else
      redis.call('LTRIM', stack, 0, keep - 1)
    end
  end
  if w.checkpoint then
    redis.call('RPUSH', stack, w.checkpoint)
  end
  redis.call('HSET', pot, 'quantity', w.quantity, 'pendingAdjustment', w.pendingAdjustment,
    'lastUpdated', w.lastUpdated, 'version', w.position, 'checkpoints', redis.call('LLEN', stack))
end

local key_index = 3 * #pots + 6
for _, record in ipairs(batch.records) do
  redis.call('SET', KEYS[key_index], record, 'PX', ARGV[4])
  key_index = key_index + 1
end
for _, entry in ipairs(batch.outboxPut) do
  redis.call('HSET', KEYS[4], entry[1], entry[2])
end
for _, move_id in ipairs(batch.outboxRemove) do
  redis.call('HDEL', KEYS[4], move_id)
end
for k = key_index, #KEYS do
  redis.call('SET', KEYS[k], '1', 'PX', ARGV[4])
end

local a = 7
while a <= #ARGV do
  local m = tonumber(ARGV[a + 2])
  local entry = {'id', ARGV[a], 'error', ARGV[a + 1]}
  for f = 1, 2 * m do
    entry[#entry + 1] = ARGV[a + 2 + f]
  end
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', unpack(entry))
  a = a + 3 + 2 * m
end

-- `applied` only moves forward; the stream keeps only the entries after it.
local ms, seq = string.match(ARGV[3], '^(%d+)-(%d+)$')
local current = redis.call('GET', KEYS[2])
if current then
  local cms, cseq = string.match(current, '^(%d+)-(%d+)$')
  if tonumber(cms) > tonumber(ms) or (cms == ms and tonumber(cseq) > tonumber(seq)) then
    ms, seq = cms, cseq
  end
end
redis.call('SET', KEYS[2], ms .. '-' .. seq)
redis.call('XTRIM', KEYS[3], 'MINID', ms .. '-' .. (tonumber(seq) + 1))
return 'OK'
