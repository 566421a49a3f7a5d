local t = {}
local n = t.missing.field
return { kind = "metric", name = "never", description = "never loads", compute = function() end }
