"""The templates shipped with the relay (package data): ``dingwire:default.md.j2``."""
