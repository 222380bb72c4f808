tidy()
local limit, res, ids = tonumber(ARGV[2]), {}, {}
scan(FREE, 0, limit, function(m)
  if not held(m) and m.v <= now then
    res[#res + 1] = out(m)
    ids[#ids + 1] = m.id
  end
  return #res < limit
end)
forget_all(ids)
return cjson.encode(res)
