-- Values that GeoNature froze (active = false, code renamed OLD_<code> in its database) and that
-- are therefore absent from pypnnomenclature's nomenclatures_inpn_data.sql, which describes a fresh
-- install. Old documents still carry these codes; generate.py adds them with "active": false.
--
-- Rows copied verbatim (ordered by type and code; leading comma of the first row removed) from the historical data
-- file of the same upstream project, https://github.com/PnX-SI/Nomenclature-api-module (AGPL-3.0):
--   * CA_OBJECTIFS 1-7 and STATUT_BIO 6, 7, 8, 10, 11, 12: data/data_nomenclatures.sql at commit
--     49c592fa750868fc865f52220ed8b6af778e5a42 (parent of ed7f9306 "Mise à jour Objectifs Cadres
--     d'acquisition", which removed CA_OBJECTIFS 1-7 for metadata standard 1.3.10);
--   * DS_PUBLIQUE Ac and Re: data/data_nomenclatures.sql at commit
--     f190617765a3eeef88ca491c5b9f31fa6776c0f6 (parent of c42fc3aa "Migration occtaxv2").
-- The freezing itself is data/update1.3.3to1.3.4.sql of that repository (release 1.3.4):
--   UPDATE t_nomenclatures SET cd_nomenclature = 'OLD_' || cd_nomenclature, active = false,
--   statut = 'Gelé' WHERE (STATUT_BIO in 6, 7, 8, 10, 11, 12) OR (DS_PUBLIQUE in Ac, Re);
--   and the same (statut 'Gelée') for every CA_OBJECTIFS value before inserting codes 8 to 11.
-- No correspondence from CA_OBJECTIFS 1-7 to 8-11 is given there. Ac and Re have Pu as broader value.

INSERT INTO t_nomenclatures (id_type, cd_nomenclature, mnemonique, label_fr, definition_fr,  source, statut, id_broader, hierarchy, meta_create_date, meta_update_date, active) VALUES
(get_id_nomenclature_type('CA_OBJECTIFS'), '1', 'Inventaire espèce', 'Inventaire espèce', 'Inventaire espèce', 'SINP', 'Validé', 0, '108.001', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('CA_OBJECTIFS'), '2', 'Inventaire habitat centré', 'Inventaire habitat centré', 'Inventaire habitat centré', 'SINP', 'Validé', 0, '108.002', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('CA_OBJECTIFS'), '3', 'Inventaire logique espace', 'Inventaire logique espace', 'Inventaire logique espace', 'SINP', 'Validé', 0, '108.003', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('CA_OBJECTIFS'), '4', 'Evaluation interaction', 'Evaluation interaction', 'Evaluation interaction', 'SINP', 'Validé', 0, '108.004', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('CA_OBJECTIFS'), '5', 'Evolution temporelle', 'Evolution temporelle', 'Evolution temporelle', 'SINP', 'Validé', 0, '108.005', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('CA_OBJECTIFS'), '6', 'Evolution espace', 'Evolution espace', 'Evolution espace', 'SINP', 'Validé', 0, '108.006', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('CA_OBJECTIFS'), '7', 'Regroupements et autres études', 'Regroupements et autres études', 'Regroupements et autres études', 'SINP', 'Validé', 0, '108.007', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('DS_PUBLIQUE'), 'Ac', 'Publique acquise', 'Publique acquise', 'Publique Acquise : La donnée-source a été produite par un organisme privé (associations, bureaux d''étude…) ou une personne physique à titre personnel. Les droits patrimoniaux exclusifs ou non exclusifs, de copie, traitement et diffusion sans limitation ont été acquis à titre gracieux ou payant, sur marché ou par convention, par un organisme ayant autorité publique. La donnée-source est devenue publique.  ', 'SINP', 'Validé', get_id_nomenclature('DS_PUBLIQUE', 'Pu'), '002.001.002', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('DS_PUBLIQUE'), 'Re', 'Publique Régie', 'Publique Régie', 'Publique Régie : La Donnée Source est publique et a été produite directement par un organisme ayant autorité publique avec ses moyens humains et techniques propres.', 'SINP', 'Validé', get_id_nomenclature('DS_PUBLIQUE', 'Pu'), '002.001.001', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('STATUT_BIO'), '6', 'Halte migratoire', 'Halte migratoire', 'Halte migratoire : Indique que l''individu procède à une halte au cours de sa migration, et a été découvert sur sa zone de halte.', 'SINP', 'Validé', 0, '013.006', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('STATUT_BIO'), '7', 'Swarming', 'Swarming', 'Swarming : Indique que l''individu a un comportement de swarming : il se regroupe avec d''autres individus de taille similaire, sur une zone spécifique, ou en mouvement.', 'SINP', 'Validé', 0, '013.007', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('STATUT_BIO'), '8', 'Chasse / alimentation', 'Chasse / alimentation', 'Chasse / alimentation : Indique que l''individu est sur une zone qui lui permet de chasser ou de s''alimenter.', 'SINP', 'Validé', 0, '013.008', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('STATUT_BIO'), '10', 'Passage en vol', 'Passage en vol', 'Passage en vol : Indique que l''individu  est de passage et en vol.', 'SINP', 'Validé', 0, '013.010', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('STATUT_BIO'), '11', 'Erratique', 'Erratique', 'Erratique : Individu d''une ou de populations d''un taxon qui ne se trouve, actuellement, que de manière occasionnelle dans les limites d’une région. Il a été retenu comme seuil, une absence de 80% d''un laps de temps donné (année, saisons...).', 'SINP', 'Validé', 0, '013.011', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
,(get_id_nomenclature_type('STATUT_BIO'), '12', 'Sédentaire', 'Sédentaire', 'Sédentaire : Individu demeurant à un seul emplacement, ou restant toute l''année dans sa région d''origine, même s''il effectue des déplacements locaux.', 'SINP', 'Validé', 0, '013.012', '2018-07-04 16:41:12.551179', '2018-07-04 16:41:12.594534', true)
;
