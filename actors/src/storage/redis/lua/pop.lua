tidy()
local limit, res = tonumber(ARGV[2]), {}
scan(FREE, 0, function(m)
  if not held(m) and m.v <= now then
    res[#res + 1] = out(m)
    forget(m.id)
  end
  return #res < limit
end)
return cjson.encode(res)
