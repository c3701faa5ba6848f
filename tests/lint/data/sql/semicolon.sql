SELECT temperature FROM 'sensors/+/data' WHERE temperature > 30;
