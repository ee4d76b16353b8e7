"""Makes the example a package so pytest tells its test_filter.py from the other examples'."""
