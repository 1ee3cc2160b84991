"""Lua scripts: each ledger write is one atomic step, so a crash never leaves half a record."""

# Registers a whole submission in one call (one round trip, one script run, whatever the
# count). KEYS: n event hashes, then their n histories. ARGV: ttl, received_at, then per
# event its content hash, trace id and history entry (events of several requests, each with
# its own trace, are registered together). Returns one entry per event: {} when new, else
# {content_hash, state, accepted} of the first registration.
REGISTER_EVENTS = """
local n = #KEYS / 2
local replies = {}
for i = 1, n do
  local existing = redis.call('HGET', KEYS[i], 'content_hash')
  if existing then
    replies[i] = {existing, redis.call('HGET', KEYS[i], 'state'),
      redis.call('HGET', KEYS[i], 'accepted')}
  else
    local at = 3 * i
    redis.call('HSET', KEYS[i], 'content_hash', ARGV[at], 'state', 'received',
      'rank', '1', 'accepted', '0', 'received_at', ARGV[2], 'trace_id', ARGV[at + 1])
    redis.call('RPUSH', KEYS[n + i], ARGV[at + 2])
    redis.call('EXPIRE', KEYS[i], ARGV[1])
    redis.call('EXPIRE', KEYS[n + i], ARGV[1])
    replies[i] = {}
  end
end
return replies
"""

# KEYS: event hashes. Marks each known event accepted (its publish was confirmed).
MARK_ACCEPTED = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HSET', KEYS[i], 'accepted', '1')
  end
end
return #KEYS
"""

# KEYS: record hash, history list, awaiting zset, overdue zset.
# ARGV: state, rank, history entry, ttl, now (epoch s), member, awaiting action, then field/value
# pairs to set. Awaiting action: "add" (dispatched), "overdue" (move to the overdue set),
# "remove" (final), "" (none). Returns {1} applied, {0, current state} refused, {-1} unknown.
TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'rank')
if not current then return {-1} end
if tonumber(ARGV[2]) <= tonumber(current) then
  return {0, redis.call('HGET', KEYS[1], 'state')}
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'rank', ARGV[2])
-- a built message keeps its document only until it moves on (crash recovery in transform)
redis.call('HDEL', KEYS[1], 'document')
for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
if ARGV[7] == 'add' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
elseif ARGV[7] == 'overdue' then
  redis.call('ZREM', KEYS[3], ARGV[6])
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6])
elseif ARGV[7] == 'remove' then
  redis.call('ZREM', KEYS[3], ARGV[6])
  redis.call('ZREM', KEYS[4], ARGV[6])
end
return {1}
"""

# Commits a batch in one step: every event must still be 'received'; then the events become
# 'batched' and the KPR messages are created in 'built' with their documents (kept until the
# message moves on, so that a crash before publishing is recovered by publishing again).
# KEYS: n event hashes, n event histories, then per message its hash and history.
# ARGV: n, m, batch_id, msg_ids json, event history entry, ttl, event_ids json,
# then per message: msg_id, msg_type, trace_id, traceparent, document, history entry.
# Returns {} when committed, else the 1-based positions of events not 'received' and their
# states ('missing' when the ledger does not know the event).
COMMIT_BATCH = """
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
local refused = {}
for i = 1, n do
  local state = redis.call('HGET', KEYS[i], 'state')
  if state ~= 'received' then
    table.insert(refused, i)
    table.insert(refused, state or 'missing')
  end
end
if #refused > 0 then return refused end
local ttl = ARGV[6]
for i = 1, n do
  redis.call('HSET', KEYS[i], 'state', 'batched', 'rank', '2', 'batch_id', ARGV[3],
    'msg_ids', ARGV[4])
  redis.call('RPUSH', KEYS[n + i], ARGV[5])
  redis.call('EXPIRE', KEYS[i], ttl)
  redis.call('EXPIRE', KEYS[n + i], ttl)
end
for j = 0, m - 1 do
  local arg = 8 + j * 6
  local record = KEYS[2 * n + 2 * j + 1]
  local history = KEYS[2 * n + 2 * j + 2]
  redis.call('HSET', record, 'state', 'built', 'rank', '1', 'msg_type', ARGV[arg + 1],
    'batch_id', ARGV[3], 'event_ids', ARGV[7], 'trace_id', ARGV[arg + 2],
    'traceparent', ARGV[arg + 3], 'document', ARGV[arg + 4])
  redis.call('RPUSH', history, ARGV[arg + 5])
  redis.call('EXPIRE', record, ttl)
  redis.call('EXPIRE', history, ttl)
end
return {}
"""
