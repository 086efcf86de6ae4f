"""Event data model: columnar containers, links, MissingET classes, persistence."""
