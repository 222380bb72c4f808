for _, id in ipairs(redis.call('HVALS', P .. ':subs')) do redis.call('DEL', P .. ':s:' .. id) end
redis.call('UNLINK', IDS, EXP, FREE, HELD, LATER, P .. ':seq', P .. ':meta', P .. ':subs')
redis.call('ZREM', KEYS[2], ARGV[2])
return 'ok'
