"""The load benchmark (`make bench`): not a test, never run by `make test`."""
