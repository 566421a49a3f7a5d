-- Edits through the undoable edit API, with undo and redo. Returns the texts the C++ test
-- compares, and checks the obvious in Lua as it goes.
local circuit = require "circuit"
local path = ...
local c = circuit.load(path)
local t = { original = c:to_json() }

c:set("fc1", "out", 512)
assert(c:get("fc1", "out") == 512)
t.widened = c:to_json()
c:rename("act1", "gelu1")
c:set("fc1", "bias", false)
c:add("drop", "dropout", { "gelu1" }, { p = 0.2 })
c:connect("fc2", { "drop" })
t.edited = c:to_json()
c:remove("drop")
c:connect("fc2", { "gelu1" })
t.removed = c:to_json()

local undone = 0
while true do
  local ok, label = c:undo()
  if not ok then break end
  undone = undone + 1
  t["undo" .. undone] = label
end
t.undone = undone
t.after_undo = c:to_json()
for _ = 1, undone do assert(c:redo()) end
t.after_redo = c:to_json()
assert(c:redo() == false, "nothing left to redo")

-- Group and ungroup are undoable too.
local g = circuit.load(path)
g:group({ "fc2", "act2" }, "hidden2")
t.grouped = g:to_json()
t.grouped_params = g:info().params
g:undo()
t.ungrouped = g:to_json()
return t
