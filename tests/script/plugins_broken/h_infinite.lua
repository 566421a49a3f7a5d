-- Loading a plugin must not hang the studio: this one is stopped by the plugin-load limit.
while true do end
