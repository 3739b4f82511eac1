"""pytest plugin: the ``dingtalk_fake`` fixture (in progress)."""
