SELECT temperature,
       `battery-level` AS battery
FROM 'sensors/+/data'
