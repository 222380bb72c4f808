local res = {}
for i = 2, #ARGV do
  local m = load(ARGV[i])
  if m then res[#res + 1] = out(m) end
end
return cjson.encode(res)
