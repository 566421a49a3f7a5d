-- Runs a program: refused in the sandbox, allowed with --allow-io.
local ok = os.execute("true")
print("os.execute returned " .. tostring(ok))
