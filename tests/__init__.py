"""The specification of octorunbook: tests/<folder>/test_<module>.py beside the module each one specifies."""
