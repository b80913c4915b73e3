// Tests for rpc/message.h (being written).
