tidy()
local total = redis.call('ZCOUNT', EXP, '(' .. now, '+inf')
local claimed = redis.call('ZCOUNT', HELD, '(' .. now, '+inf')
return cjson.encode({total, claimed, edge(false), edge(true)})
