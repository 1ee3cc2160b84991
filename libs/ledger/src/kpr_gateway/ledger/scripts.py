"""Lua scripts: each ledger write is one atomic step, so a crash never leaves half a record."""

# KEYS: event hash, event history. ARGV: content_hash, history entry, ttl seconds, received_at,
# trace_id. Returns {} when the event is new, else {content_hash, state, accepted}.
REGISTER_EVENT = """
local existing = redis.call('HGET', KEYS[1], 'content_hash')
if existing then
  return {existing, redis.call('HGET', KEYS[1], 'state'), redis.call('HGET', KEYS[1], 'accepted')}
end
redis.call('HSET', KEYS[1], 'content_hash', ARGV[1], 'state', 'received', 'rank', '1',
  'accepted', '0', 'received_at', ARGV[4], 'trace_id', ARGV[5])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {}
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

# KEYS: message hash, history. ARGV: history entry, ttl, then field/value pairs.
# Creates the message in state built; a repeat (redelivered build) changes nothing.
CREATE_MESSAGE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'built', 'rank', '1')
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""
