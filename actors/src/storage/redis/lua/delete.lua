local m = load(ARGV[2])
if not m then return 'ok' end
local claim = ARGV[3]
if claim == '' then
  if held(m) then return 'claimed' end
elseif not held(m) then
  return 'not_claimed'
elseif m.ci ~= claim then
  if claim_is_live(claim) then return 'not_claimed_by' end
  return 'claim_not_valid'
end
forget(m.id)
return 'ok'
