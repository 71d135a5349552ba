-- MITRE ATT&CK techniques over the last 7 days: one row per technique (sub-technique when the rule names one).
-- attacks holds one element per technique and one per tactic, so tactic-only elements are skipped.
SELECT coalesce(attack.sub_technique.uid, attack.technique.uid) AS technique_id,
       coalesce(attack.sub_technique.name, attack.technique.name) AS technique,
       count(*) AS events,
       count(DISTINCT analytic.uid) AS rules
FROM amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_ext_wazuh
CROSS JOIN UNNEST(attacks) AS a (attack)
WHERE eventday >= date_format(current_date - INTERVAL '7' DAY, '%Y%m%d')
  AND attack.technique.uid IS NOT NULL
GROUP BY 1, 2
ORDER BY events DESC, technique_id
LIMIT 20;
