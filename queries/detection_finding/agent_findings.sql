-- One agent's findings of the last 7 days, newest first (replace web-01 with the agent's name).
SELECT from_unixtime(time / 1e3) AS time_utc, severity, finding_info.analytic.uid AS rule_id, finding_info.title,
       device.uid AS agent_id, device.ip AS agent_ip
FROM amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_ext_wazuh
WHERE eventday >= date_format(current_date - INTERVAL '7' DAY, '%Y%m%d')
  AND device.name = 'web-01'
ORDER BY time DESC, rule_id
LIMIT 100;
