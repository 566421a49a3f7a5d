return { kind = "optimizer", name = "adam9", description = "not a plugin kind" }
