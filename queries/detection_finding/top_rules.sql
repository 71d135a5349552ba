-- The 10 Wazuh rules that fired most over the last 7 days, with their highest severity.
SELECT finding_info.analytic.uid AS rule_id, finding_info.analytic.name AS rule, max(severity_id) AS max_severity_id, count(*) AS events
FROM amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_ext_wazuh
WHERE eventday >= date_format(current_date - INTERVAL '7' DAY, '%Y%m%d')
GROUP BY finding_info.analytic.uid, finding_info.analytic.name
ORDER BY events DESC, rule_id
LIMIT 10;
