"""The plant's time axis: its time zone and the first hour data can be partitioned on.

Partitions are hourly in the plant's local time, so a partition key such as
2026-11-02-09:00 reads as the hour people on the shop floor call 9 o'clock.
"""

PLANT_TIMEZONE = "Asia/Shanghai"
PARTITIONS_START = "2026-01-01-00:00"
PARTITION_KEY_FORMAT = "%Y-%m-%d-%H:%M"
