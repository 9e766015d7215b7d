"""The plugin host: builds the pluggy plugin manager (built-ins, entry points, enable/disable)
and collects the typed specs that plugins' hooks return (formats, encoders, sinks, resolvers)."""
