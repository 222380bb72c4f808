local f = redis.call('HMGET', P .. ':s:' .. ARGV[2], 'sub', 't', 'o', 'c', 'k', 'e')
if not f[1] or tonumber(f[6]) <= now then return cjson.encode({}) end
return cjson.encode({{ARGV[2], f[1], tonumber(f[2]), f[3], tonumber(f[4]), tonumber(f[5])}})
