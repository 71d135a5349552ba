-- Events per day and severity over the last 7 days (eventday is the partition: only those days are read).
SELECT eventday, severity, count(*) AS events
FROM amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_ext_wazuh
WHERE eventday >= date_format(current_date - INTERVAL '7' DAY, '%Y%m%d')
GROUP BY eventday, severity
ORDER BY eventday, events DESC, severity;
