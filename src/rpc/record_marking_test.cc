// Tests for rpc/record_marking.h (being written).
