"""The core: values in, values out. No sockets, no clock reads, no sleeps, no logging."""
