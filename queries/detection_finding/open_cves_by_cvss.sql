-- Open CVEs (Wazuh 4.8+ vulnerability detection), highest CVSS first: for each agent, CVE and package the
-- latest status reported (Active or Solved); those still Active, counted over agents. The vulnerability
-- fields are in unmapped (element_at gives NULL for a missing key, where unmapped['key'] would fail).
WITH latest AS (
  SELECT device.name AS agent,
         element_at(unmapped, 'data.vulnerability.cve') AS cve,
         element_at(unmapped, 'data.vulnerability.package.name') AS package,
         max_by(element_at(unmapped, 'data.vulnerability.status'), time) AS status,
         max_by(element_at(unmapped, 'data.vulnerability.severity'), time) AS vulnerability_severity,
         max_by(element_at(unmapped, 'data.vulnerability.score.base'), time) AS score
  FROM amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_ext_wazuh
  WHERE element_at(unmapped, 'data.vulnerability.cve') IS NOT NULL
  GROUP BY 1, 2, 3
)
SELECT cve, package, max(vulnerability_severity) AS severity, max(TRY_CAST(score AS double)) AS cvss,
       count(*) AS agents
FROM latest
WHERE status = 'Active'
GROUP BY cve, package
ORDER BY cvss DESC NULLS LAST, agents DESC, cve, package;
