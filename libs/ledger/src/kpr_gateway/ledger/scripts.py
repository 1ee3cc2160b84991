"""Lua scripts: each ledger write is one atomic step, so a crash never leaves half a record."""

# Registers a whole submission in one call (one round trip, one script run, whatever the
# count). KEYS: n event hashes, then their n histories. ARGV: ttl, received_at, the EPJ
# client's id ('' for none: the events of one call come from one client), then per event its
# content hash, trace id and history entry (events of several requests, each with its own
# trace, are registered together). Returns the events registered before, flat: per such
# event its 1-based position, then {content_hash, state, accepted} of the first
# registration; an event not in the reply is new (most are: the reply stays small).
REGISTER_EVENTS = """
local n = #KEYS / 2
local known = {}
for i = 1, n do
  local existing = redis.call('HMGET', KEYS[i], 'content_hash', 'state', 'accepted')
  if existing[1] then
    table.insert(known, i)
    table.insert(known, existing)
  else
    local at = 3 * i + 1
    redis.call('HSET', KEYS[i], 'content_hash', ARGV[at], 'state', 'received',
      'rank', '1', 'accepted', '0', 'received_at', ARGV[2], 'trace_id', ARGV[at + 1],
      'client_id', ARGV[3])
    redis.call('RPUSH', KEYS[n + i], ARGV[at + 2])
    redis.call('EXPIRE', KEYS[i], ARGV[1])
    redis.call('EXPIRE', KEYS[n + i], ARGV[1])
  end
end
return known
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
# message moves on, so that a crash before publishing is recovered by publishing again) and
# their KPR documents (kept for the retention, so that a message can be sent again).
# With a chain section, the same step numbers the events in their municipality's chain:
# refused when the stored head is not the one the numbering continued from ('moved', nothing
# changed), 'broken' when the links do not continue it one by one; a correction whose
# original has no seq yet (and is not earlier in this commit) is refused 'original_not_sent'.
# KEYS: n event hashes, n event histories, then per message its hash and history; with a
# chain: its head, its log, the tenant's set of chains, then the hash of each corrected
# original (links in order).
# ARGV: n, m, batch_id, msg_ids json, event history entry, ttl, event_ids json,
# then per message: msg_id, msg_type, trace_id, traceparent, document, history entry,
# kpr document ('' for none); with a chain: link count, municipality, expected seq, expected
# guid, then per link: event position (1-based), event id, seq, previous, status, corrects.
# Returns {'ok'}; {'refused', {position, state, ...}}; {'moved', {...}, seq, guid} with the
# stored head; {'broken', text}.
COMMIT_BATCH = """
local GUID_EMPTY = '00000000-0000-0000-0000-000000000000'
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
local c = 8 + 7 * m
local chained = ARGV[c] ~= nil
local refused = {}
local is_refused = {}
local function refuse(position, why)
  is_refused[position] = true
  table.insert(refused, position)
  table.insert(refused, why)
end
for i = 1, n do
  local state = redis.call('HGET', KEYS[i], 'state')
  if state ~= 'received' then refuse(i, state or 'missing') end
end
local links = 0
local head_key, log_key, chains_key
local link_at = {}
if chained then
  local k = 2 * n + 2 * m
  head_key, log_key, chains_key = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  links = tonumber(ARGV[c])
  local original = k + 3
  local earlier = {}
  for j = 0, links - 1 do
    local a = c + 4 + 6 * j
    link_at[tonumber(ARGV[a])] = a
    if ARGV[a + 5] ~= '' then
      original = original + 1
      local position = tonumber(ARGV[a])
      if not earlier[ARGV[a + 5]] and not is_refused[position]
          and redis.call('HEXISTS', KEYS[original], 'seq') == 0 then
        refuse(position, 'original_not_sent')
      end
    end
    earlier[ARGV[a + 1]] = true
  end
  local head = redis.call('HMGET', head_key, 'seq', 'guid')
  local seq, guid = head[1] or '0', head[2] or GUID_EMPTY
  if seq ~= ARGV[c + 2] or guid ~= ARGV[c + 3] then
    return {'moved', refused, seq, guid}
  end
  local expected_seq, expected_previous = tonumber(seq), guid
  for j = 0, links - 1 do
    local a = c + 4 + 6 * j
    if tonumber(ARGV[a + 2]) ~= expected_seq + 1 then
      return {'broken', 'event ' .. ARGV[a + 1] .. ' has seq ' .. ARGV[a + 2] ..
        ', the chain continues at seq ' .. (expected_seq + 1)}
    end
    if ARGV[a + 3] ~= expected_previous then
      return {'broken', 'event ' .. ARGV[a + 1] .. ' (seq ' .. ARGV[a + 2] .. ') names ' ..
        ARGV[a + 3] .. ' before it, the chain has ' .. expected_previous}
    end
    expected_seq, expected_previous = expected_seq + 1, ARGV[a + 1]
  end
end
if #refused > 0 then return {'refused', refused} end
local ttl = ARGV[6]
local municipality = ARGV[c + 1]
for i = 1, n do
  local a = link_at[i]
  if a then -- the event's place in the chain, in the same write
    redis.call('HSET', KEYS[i], 'state', 'batched', 'rank', '2', 'batch_id', ARGV[3],
      'msg_ids', ARGV[4], 'seq', ARGV[a + 2], 'prev', ARGV[a + 3], 'nstatus', ARGV[a + 4],
      'municipality', municipality)
    if ARGV[a + 5] ~= '' then redis.call('HSET', KEYS[i], 'corrects', ARGV[a + 5]) end
  else
    redis.call('HSET', KEYS[i], 'state', 'batched', 'rank', '2', 'batch_id', ARGV[3],
      'msg_ids', ARGV[4])
  end
  -- no EXPIRE: an event's record and history keep the retention counted from its receipt
  redis.call('RPUSH', KEYS[n + i], ARGV[5])
end
for j = 0, m - 1 do
  local arg = 8 + j * 7
  local record = KEYS[2 * n + 2 * j + 1]
  local history = KEYS[2 * n + 2 * j + 2]
  redis.call('HSET', record, 'state', 'built', 'rank', '1', 'msg_type', ARGV[arg + 1],
    'batch_id', ARGV[3], 'event_ids', ARGV[7], 'trace_id', ARGV[arg + 2],
    'traceparent', ARGV[arg + 3], 'document', ARGV[arg + 4])
  if ARGV[arg + 6] ~= '' then redis.call('HSET', record, 'kpr_document', ARGV[arg + 6]) end
  redis.call('RPUSH', history, ARGV[arg + 5])
  redis.call('EXPIRE', record, ttl)
  redis.call('EXPIRE', history, ttl)
end
if links > 0 then
  -- the log in chain order, many ids per call (unpack stays far below Lua's stack limit)
  local ids = {}
  for j = 0, links - 1 do
    table.insert(ids, ARGV[c + 4 + 6 * j + 1])
    if #ids == 500 then
      redis.call('RPUSH', log_key, unpack(ids))
      ids = {}
    end
  end
  if #ids > 0 then redis.call('RPUSH', log_key, unpack(ids)) end
  local last = c + 4 + 6 * (links - 1)
  -- the chain outlives the events' retention: numbering must never start again at 1
  redis.call('HSET', head_key, 'seq', ARGV[last + 2], 'guid', ARGV[last + 1])
  redis.call('SADD', chains_key, municipality)
end
return {'ok'}
"""

# Records a message that sends an earlier one's events again: same batch, same events, the
# same numbers (the chain does not change), a new MsgId and document.
# KEYS: old message hash, its history, new message hash, its history, the overdue set,
# then the events' hashes.
# ARGV: old msg id, new msg id, event_ids json as read, ttl, document, trace id, traceparent,
# 'built' entry (new message), 'resent' entry (old message), then the states a message may
# be resent from. Returns {1} recorded, {2} recorded by an earlier call (a retry), {0, state}
# still in flight, {-1} unknown, {-2} the new MsgId is taken by another message.
RESEND_MESSAGE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or redis.call('HGET', KEYS[1], 'event_ids') ~= ARGV[3] then return {-1} end
if redis.call('HGET', KEYS[3], 'resend_of') == ARGV[1] then return {2} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {-2} end
local allowed = false
for i = 10, #ARGV do
  if ARGV[i] == state then allowed = true end
end
if not allowed then return {0, state} end
local ttl = ARGV[4]
local old = redis.call('HMGET', KEYS[1], 'msg_type', 'batch_id', 'kpr_document')
redis.call('HSET', KEYS[3], 'state', 'built', 'rank', '1', 'msg_type', old[1],
  'batch_id', old[2], 'event_ids', ARGV[3], 'trace_id', ARGV[6], 'traceparent', ARGV[7],
  'document', ARGV[5], 'resend_of', ARGV[1])
if old[3] then redis.call('HSET', KEYS[3], 'kpr_document', old[3]) end
redis.call('RPUSH', KEYS[4], ARGV[8])
redis.call('RPUSH', KEYS[2], ARGV[9])
-- the new message carries the wait for an answer now
redis.call('ZREM', KEYS[5], ARGV[1])
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ttl) end
for i = 6, #KEYS do
  local listed = redis.call('HGET', KEYS[i], 'msg_ids')
  if listed then
    local ids = cjson.decode(listed)
    table.insert(ids, ARGV[2])
    redis.call('HSET', KEYS[i], 'msg_ids', cjson.encode(ids))
  end
end
return {1}
"""

# Checks one page of a chain's log against the events' own fields (read only).
# KEYS: the page's event hashes in log order. ARGV: the seq of the first, the event id before
# it (Guid.Empty at the start), the length of the event keys' prefix (an event's id is its
# key's rest: sending the ids again would double what the page costs to encode).
# Returns {} when every event has its seq and names the one before it, else
# {position (1-based), stored state or '', stored seq or '', stored prev or ''} of the first
# that does not.
VERIFY_LINKS = """
local seq = tonumber(ARGV[1])
local previous = ARGV[2]
local cut = tonumber(ARGV[3]) + 1
for i = 1, #KEYS do
  local stored = redis.call('HMGET', KEYS[i], 'state', 'seq', 'prev')
  if not stored[1] or stored[2] ~= tostring(seq) or stored[3] ~= previous then
    return {i, stored[1] or '', stored[2] or '', stored[3] or ''}
  end
  seq = seq + 1
  previous = string.sub(KEYS[i], cut)
end
return {}
"""

# Records an annual submission in one step, with the year's resend discipline (per receiver
# environment: a test submission to KPR Validering has its own current key, so it neither
# blocks nor replaces the submission to KPR). Python reads
# the year's current submission and its KPR_IPL's id first and passes their keys; the script
# refuses ('moved') if the current one changed meanwhile, so the caller reads again.
# Discipline, for a submission to be sent: while the current one's KPR_IPL has no final state
# -> {'pending', id} (once it is overdue, a replace may follow it); after an accepted one
# (acknowledged, with or without errors), only with replace -> else {'replace_required', id};
# after a rejected, failed or expired one: allowed.
# A refused submission is only listed: it never becomes the year's current one, so it cannot
# open the way for a later one without replace.
# KEYS: submission hash, the year's current key, the year's list, the set of years, the
# unpublished set, the current submission's KPR_IPL hash (any key of the tenant when there is
# none); when sending, then: KPR_IPL hash, its history, KPR_IDE hash, its history.
# ARGV: dry run ('1': only the discipline), sending ('1') or refused ('0'), replace ('1'/'0'),
# ttl, created (epoch s), submission id, year, the current id as read ('' for none), the
# environment (stored on each message: envelope, dispatch and receipts use its receiver),
# then when sending per message (KPR_IPL, KPR_IDE): msg_id, msg_type, trace_id, traceparent,
# document, history entry; then the submission's field/value pairs.
# Returns {'ok', replaced id or ''}, {'pending', id}, {'replace_required', id}, {'moved'},
# {'exists'} (the submission id is taken).
RECORD_ANNUAL = """
local sending = ARGV[2] == '1'
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[8] then return {'moved'} end
local replaced = ''
if sending and current ~= '' then
  local ipl = redis.call('HGET', KEYS[6], 'state')
  if ipl == 'acknowledged' or ipl == 'acknowledged_with_errors' then
    if ARGV[3] ~= '1' then return {'replace_required', current} end
    replaced = current
  elseif ipl == 'overdue' and ARGV[3] == '1' then
    -- no AppRec past the deadline: an explicit replace (with its reason) may follow it
    replaced = current
  elseif ipl and ipl ~= 'rejected' and ipl ~= 'transport_error' and ipl ~= 'refused' then
    return {'pending', current}
  end
end
if ARGV[1] == '1' then return {'ok', replaced} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local ttl = ARGV[4]
local first = 10
if sending then first = 22 end
for i = first, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if replaced ~= '' then redis.call('HSET', KEYS[1], 'replaces', replaced) end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('SADD', KEYS[4], ARGV[7])
redis.call('EXPIRE', KEYS[4], ttl)
if sending then
  redis.call('SET', KEYS[2], ARGV[6], 'EX', ttl)
  for j = 0, 1 do
    local a = 10 + 6 * j
    local record, history = KEYS[7 + 2 * j], KEYS[8 + 2 * j]
    redis.call('HSET', record, 'state', 'built', 'rank', '1', 'msg_type', ARGV[a + 1],
      'batch_id', ARGV[6], 'event_ids', '[]', 'trace_id', ARGV[a + 2],
      'traceparent', ARGV[a + 3], 'document', ARGV[a + 4], 'submission_id', ARGV[6],
      'environment', ARGV[9])
    redis.call('RPUSH', history, ARGV[a + 5])
    redis.call('EXPIRE', record, ttl)
    redis.call('EXPIRE', history, ttl)
    redis.call('ZADD', KEYS[5], ARGV[5], ARGV[a])
  end
end
return {'ok', replaced}
"""

# Records one attempt to deliver a message's receipt to one EPJ client's webhook.
# KEYS: the message's webhook hash (fields '<client_id>:<field>').
# ARGV: client id, at (ISO 8601), state ('delivered', 'retrying', 'failed'), the HTTP status
# ('' for none), the failure in our words ('' for none), ttl.
# A client once delivered stays delivered: a second copy's late attempt that failed changes
# only the attempt fields. Returns the client's attempts so far.
RECORD_WEBHOOK_ATTEMPT = """
local c = ARGV[1]
local attempts = redis.call('HINCRBY', KEYS[1], c .. ':attempts', 1)
redis.call('HSET', KEYS[1], c .. ':last_attempt_at', ARGV[2], c .. ':last_status', ARGV[4],
  c .. ':last_error', ARGV[5])
if redis.call('HGET', KEYS[1], c .. ':state') ~= 'delivered' then
  redis.call('HSET', KEYS[1], c .. ':state', ARGV[3])
  if ARGV[3] == 'delivered' then
    redis.call('HSET', KEYS[1], c .. ':delivered_at', ARGV[2])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
return attempts
"""
