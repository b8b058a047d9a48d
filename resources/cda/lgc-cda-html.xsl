<?xml version="1.0" encoding="UTF-8"?>
<!--
  LGC: CDA R2 (N1 or N3) to simple HTML for the document viewer (Qt QTextBrowser subset of HTML 4).
  Header (title, type, dates, author, custodian, patient identity with the INS when present), then every
  section with its narrative block. The embedded PDF is not rendered here: the viewer shows it on its own tab.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:h="urn:hl7-org:v3"
  exclude-result-prefixes="h">
  <xsl:output method="html" encoding="UTF-8" indent="no"/>

  <xsl:template match="/">
    <html>
      <head>
        <meta http-equiv="Content-Type" content="text/html; charset=UTF-8"/>
        <style type="text/css">
          body { font-family: 'DejaVu Sans', sans-serif; font-size: 10pt; color: #1a1a1a; }
          h1 { font-size: 15pt; color: #1F4E79; margin-bottom: 2px; }
          h2 { font-size: 11.5pt; color: #1F4E79; border-bottom: 1px solid #9DB3C8; margin-top: 14px; }
          table.meta td { padding: 1px 10px 1px 0; vertical-align: top; }
          td.label { color: #555555; }
          table.narrative { border-collapse: collapse; }
          table.narrative th { background-color: #E8EEF4; border: 1px solid #9DB3C8; padding: 3px; text-align: left; }
          table.narrative td { border: 1px solid #C8D4E0; padding: 3px; }
          .identity { background-color: #F4F7FA; border: 1px solid #9DB3C8; padding: 6px; }
          .muted { color: #666666; }
        </style>
      </head>
      <body>
        <xsl:apply-templates select="h:ClinicalDocument"/>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="h:ClinicalDocument">
    <h1><xsl:value-of select="h:title"/></h1>
    <p class="muted">
      <xsl:value-of select="h:code/@displayName"/>
      <xsl:text> — version </xsl:text><xsl:value-of select="h:versionNumber/@value"/>
      <xsl:if test="h:relatedDocument[@typeCode='RPLC']"> (remplace une version précédente)</xsl:if>
    </p>
    <table class="meta">
      <tr><td class="label">Date de l'acte</td>
        <td><xsl:call-template name="date">
          <!-- The act (serviceEvent) when given, else the document's date: a union is in document order, so
               the header's effectiveTime (which comes first) must not be picked when the act date exists. -->
          <xsl:with-param name="ts" select="(h:documentationOf/h:serviceEvent/h:effectiveTime/h:low/@value
                                            | h:documentationOf/h:serviceEvent/h:effectiveTime/@value
                                            | h:effectiveTime[not(../h:documentationOf/h:serviceEvent/h:effectiveTime)]/@value)[1]"/>
        </xsl:call-template></td></tr>
      <xsl:if test="h:documentationOf/h:serviceEvent/h:code[@codeSystem='2.16.840.1.113883.6.3']">
        <tr><td class="label">Pathologie dépistée</td>
          <td><xsl:value-of select="h:documentationOf/h:serviceEvent/h:code/@displayName"/>
            <xsl:text> (CIM-10 </xsl:text><xsl:value-of select="h:documentationOf/h:serviceEvent/h:code/@code"/><xsl:text>)</xsl:text></td></tr>
      </xsl:if>
      <xsl:if test="h:documentationOf/h:serviceEvent/h:effectiveTime/h:high/@value">
        <tr><td class="label">Prescription valable jusqu'au</td>
          <td><xsl:call-template name="date">
            <xsl:with-param name="ts" select="substring(h:documentationOf/h:serviceEvent/h:effectiveTime/h:high/@value, 1, 8)"/>
          </xsl:call-template></td></tr>
      </xsl:if>
      <tr><td class="label">Document créé le</td>
        <td><xsl:call-template name="date"><xsl:with-param name="ts" select="h:effectiveTime/@value"/></xsl:call-template></td></tr>
      <tr><td class="label">Auteur</td>
        <td><xsl:apply-templates select="h:author[1]/h:assignedAuthor/h:assignedPerson/h:name"/>
          <xsl:if test="h:author[1]/h:assignedAuthor/h:code/@displayName">
            <xsl:text> (</xsl:text><xsl:value-of select="h:author[1]/h:assignedAuthor/h:code/@displayName"/><xsl:text>)</xsl:text>
          </xsl:if></td></tr>
      <tr><td class="label">Structure</td>
        <td><xsl:value-of select="h:custodian/h:assignedCustodian/h:representedCustodianOrganization/h:name"/></td></tr>
      <tr><td class="label">Responsable</td>
        <td><xsl:apply-templates select="h:legalAuthenticator/h:assignedEntity/h:assignedPerson/h:name"/></td></tr>
      <tr><td class="label">Confidentialité</td>
        <td><xsl:value-of select="h:confidentialityCode/@displayName"/></td></tr>
    </table>
    <xsl:apply-templates select="h:recordTarget/h:patientRole"/>
    <xsl:choose>
      <xsl:when test="h:component/h:structuredBody">
        <xsl:apply-templates select="h:component/h:structuredBody/h:component/h:section"/>
      </xsl:when>
      <xsl:otherwise>
        <h2>Contenu</h2>
        <p>Document non structuré (CDA niveau 1) : son contenu est le PDF joint, affiché dans l'onglet « PDF ».</p>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:patientRole">
    <h2>Patient</h2>
    <table class="meta identity">
      <tr><td class="label">Nom de naissance</td><td><b><xsl:value-of select="h:patient/h:name/h:family[@qualifier='BR']"/></b></td></tr>
      <tr><td class="label">Prénom(s) de naissance</td><td><xsl:value-of select="h:patient/h:name/h:given[not(@qualifier)]"/></td></tr>
      <xsl:if test="h:patient/h:name/h:family[@qualifier='CL']">
        <tr><td class="label">Nom utilisé</td><td><xsl:value-of select="h:patient/h:name/h:family[@qualifier='CL']"/></td></tr>
      </xsl:if>
      <tr><td class="label">Sexe</td><td><xsl:value-of select="h:patient/h:administrativeGenderCode/@displayName"/></td></tr>
      <tr><td class="label">Date de naissance</td>
        <td><xsl:call-template name="date"><xsl:with-param name="ts" select="h:patient/h:birthTime/@value"/></xsl:call-template></td></tr>
      <tr><td class="label">Lieu de naissance (INSEE)</td><td><xsl:value-of select="h:patient/h:birthplace/h:place/h:addr/h:county"/></td></tr>
      <xsl:variable name="ins" select="h:id[@root='1.2.250.1.213.1.4.8' or @root='1.2.250.1.213.1.4.9' or @root='1.2.250.1.213.1.4.10' or @root='1.2.250.1.213.1.4.11']"/>
      <tr><td class="label">Matricule INS</td>
        <td><xsl:choose>
          <xsl:when test="$ins"><b><xsl:value-of select="$ins/@extension"/></b>
            <xsl:choose>
              <xsl:when test="$ins/@root='1.2.250.1.213.1.4.8'"> (NIR)</xsl:when>
              <xsl:when test="$ins/@root='1.2.250.1.213.1.4.9'"> (NIA)</xsl:when>
              <xsl:when test="$ins/@root='1.2.250.1.213.1.4.10'"> (NIR de test)</xsl:when>
              <xsl:otherwise> (NIR de démonstration)</xsl:otherwise>
            </xsl:choose></xsl:when>
          <xsl:otherwise><span class="muted">non transmis (identité non qualifiée)</span></xsl:otherwise>
        </xsl:choose></td></tr>
    </table>
  </xsl:template>

  <xsl:template match="h:section">
    <h2><xsl:value-of select="h:title"/></h2>
    <xsl:apply-templates select="h:text"/>
    <xsl:apply-templates select="h:component/h:section"/>
  </xsl:template>

  <xsl:template match="h:text"><div><xsl:apply-templates/></div></xsl:template>
  <xsl:template match="h:paragraph"><p><xsl:apply-templates/></p></xsl:template>
  <xsl:template match="h:content"><span><xsl:apply-templates/></span></xsl:template>
  <xsl:template match="h:br"><br/></xsl:template>
  <xsl:template match="h:list"><ul><xsl:apply-templates select="h:item"/></ul></xsl:template>
  <xsl:template match="h:item"><li><xsl:apply-templates/></li></xsl:template>
  <xsl:template match="h:table"><table class="narrative" cellspacing="0"><xsl:apply-templates/></table></xsl:template>
  <xsl:template match="h:thead | h:tbody"><xsl:apply-templates/></xsl:template>
  <xsl:template match="h:tr"><tr><xsl:apply-templates/></tr></xsl:template>
  <xsl:template match="h:th"><th><xsl:apply-templates/></th></xsl:template>
  <xsl:template match="h:td"><td><xsl:apply-templates/></td></xsl:template>
  <xsl:template match="h:renderMultiMedia"><i>[PDF joint : voir l'onglet « PDF »]</i></xsl:template>
  <xsl:template match="h:caption"><b><xsl:apply-templates/></b><br/></xsl:template>
  <xsl:template match="h:sub"><sub><xsl:apply-templates/></sub></xsl:template>
  <xsl:template match="h:sup"><sup><xsl:apply-templates/></sup></xsl:template>
  <xsl:template match="h:linkHtml"><xsl:apply-templates/></xsl:template>
  <xsl:template match="h:footnote | h:footnoteRef"/>

  <xsl:template match="h:name">
    <xsl:for-each select="h:prefix | h:given[not(@qualifier='BR')] | h:family[not(@qualifier='BR')]">
      <xsl:if test="position() &gt; 1"><xsl:text> </xsl:text></xsl:if>
      <xsl:value-of select="normalize-space(.)"/>
    </xsl:for-each>
    <xsl:if test="not(h:family[not(@qualifier='BR')])">
      <xsl:text> </xsl:text><xsl:value-of select="h:family"/>
    </xsl:if>
  </xsl:template>

  <xsl:template name="date">
    <xsl:param name="ts"/>
    <xsl:if test="string-length($ts) &gt;= 8">
      <xsl:value-of select="concat(substring($ts, 7, 2), '/', substring($ts, 5, 2), '/', substring($ts, 1, 4))"/>
      <xsl:if test="string-length($ts) &gt;= 12">
        <xsl:value-of select="concat(' à ', substring($ts, 9, 2), ':', substring($ts, 11, 2))"/>
      </xsl:if>
    </xsl:if>
  </xsl:template>
</xsl:stylesheet>
