"""The plant's metric library and the metrics each line watches."""
