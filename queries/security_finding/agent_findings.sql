-- One agent's findings of the last 7 days, newest first (replace web-01 with the agent's name).
SELECT from_unixtime(time / 1e3) AS time_utc, severity, analytic.uid AS rule_id, finding.title, resource.uid AS agent_id
FROM amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_ext_wazuh
CROSS JOIN UNNEST(resources) AS r (resource)
WHERE eventday >= date_format(current_date - INTERVAL '7' DAY, '%Y%m%d')
  AND resource.type = 'Wazuh agent'
  AND resource.name = 'web-01'
ORDER BY time DESC, rule_id
LIMIT 100;
