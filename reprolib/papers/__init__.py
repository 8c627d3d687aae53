"""Paper-level glue: patch extraction, table rows and figures, one module per paper."""
