-- Open CVEs (Wazuh vulnerability detection), highest CVSS first: for each agent, CVE and package the
-- latest status reported (Active or Solved); those still Active, counted over agents. The CVE, its
-- package, severity and CVSS scores are in vulnerabilities[]; the status Wazuh reports is in unmapped
-- (element_at gives NULL for a missing key, where unmapped['key'] would fail).
WITH latest AS (
  SELECT device.name AS agent,
         vulnerability.cve.uid AS cve,
         package.name AS package,
         max_by(element_at(unmapped, 'data.vulnerability.status'), time) AS status,
         max_by(vulnerability.severity, time) AS vulnerability_severity,
         max(cvss.base_score) AS score
  FROM amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_ext_wazuh
  CROSS JOIN UNNEST(vulnerabilities) AS v (vulnerability)
  CROSS JOIN UNNEST(vulnerability.affected_packages) AS p (package)
  CROSS JOIN UNNEST(vulnerability.cve.cvss) AS c (cvss)
  GROUP BY 1, 2, 3
)
SELECT cve, package, max(vulnerability_severity) AS severity, max(score) AS cvss, count(*) AS agents
FROM latest
WHERE status = 'Active'
GROUP BY cve, package
ORDER BY cvss DESC NULLS LAST, agents DESC, cve, package;
