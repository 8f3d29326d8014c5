/**
 * Checksums recorded by releases before src/db/migration-checksum.ts, which hashed the whole file
 * (comments included), each mapped to the checksum of that file's statements. One entry per
 * version of each migration file in git up to the change (13 versions of 12 files), made with
 * `git log --format=%H -- <file>`, `git show <commit>:<file>` and the two hashes of each text.
 * Frozen: migrations applied since record the checksum of their statements, and need no entry.
 */
export const LEGACY_CHECKSUMS: ReadonlyMap<string, string> = new Map([
  // 0001_shop.sql as of 46a93cf
  [
    '31272967d08576d04e7c183fd43134be9d4c0d995d3a4fa9baf898de3c68142b',
    '0d222a8d61791ac58b8245ff850f3023e27a4c39b1c884f405cd88d7610f820d',
  ],
  // 0002_outbox.sql as of 46a93cf
  [
    'a60d3456651fcc3d40da8fb5e6b9fcc937288086e8a4e4d663d36110b5c133da',
    '292301d6b5f83e5cde39c40b98477b0e4607b2ba6926bf8a3b7662507a69c3e5',
  ],
  // 0003_outbox_trigger.sql as of 46a93cf
  [
    '028df1190032bac943d4350e7602b17d92493a344f13dae60f201d25ace5b783',
    '11a8d93f616f0905efb662518ec36142d28fe2cd2f7c892d0bcc4ce6abc955d6',
  ],
  // 0020_items_capture.sql as of d80da98
  [
    '3756f8908bbd17be52b8437444dcaefee8a710d3dd013f107de7e719cd472d5f',
    '74607289380728e465acf292820cf3c8f97a04225a3f46b7172a1384bfe34a67',
  ],
  // 0030_outbox_operations.sql as of c556f04
  [
    '2d9241ec74c4227b21502700901adf673b475b5f02ebd3b6839e4a99db57fd04',
    '721932f11903e708859020a44460de2184774ad71cdfde955852351ebaef090b',
  ],
  // 0040_outbox_wakeup_gate.sql as of 93b64a0
  [
    'c91db41bf3296cdf9048bd3e9d6aa6eef8a5589bec5b3bea915e8a1be8f77cc9',
    '15067da3030f03192838ede841a56521da30b580bc08693a90c47ff0985943da',
  ],
  // 0041_outbox_claim_head_check.sql as of b82ca4d
  [
    '17276cbfa20935703571d0a334bf95cdbe4a3b5329f2721372bc61c9406a6b0c',
    'ee392b89059a85787871f71f14b995afd32012a576eb07bd565adf2a63aa2c83',
  ],
  // 0042_outbox_autovacuum.sql as of 851bf04
  [
    'f946b1b9f1e1e1c0c43f9068aeab8fc6c0e755d590fc005c6d6387a4c4066908',
    'dfe23ea54ac4b2f3da25111d9ccd24e1db193dc842cb746ed5f88a7141724065',
  ],
  // 0043_outbox_claim_plans.sql as of 5f05d0b
  [
    '4952ccee28c6d64d7c76bafb1c69f247c8c0a113e127dbdfcc937534503df327',
    '531199a3a8deed34439edc878ab3e5c886d3e535d6dec2cb9cc5ea7ebe4dd555',
  ],
  // 0043_outbox_claim_plans.sql as of eb41e47
  [
    '1cedbb499d67ec1836721c349d39139cf1d748a5efbb99d30d6750bf7ac99d1b',
    'b335a42969d55daad088e746b48bc804a9857a2a10f8ceafa18106b995b43b85',
  ],
  // 0044_outbox_claim_inline_head_check.sql as of 215f544
  [
    '8beb49b741e69531fd9393aaa92d045934d9b1f12bb4c393f6e490b3af88fed2',
    'a75f9eaf22915f6f854374fc79d0ab1bf46da9eb29d069a310d69f4195586382',
  ],
  // 0045_order_status_message.sql as of 4388035
  [
    '70e98d753646fef0c4dde161e627b3e889e61c388b5aac62308d4949e252039c',
    '0f97734dc68bb1af8db7912f64a4c2f0826c551c46645ae91cb07fc5cdc89eff',
  ],
  // 0046_outbox_batch_statement.sql as of 23b960e
  [
    '084e0ae5a85894b845cf9fcc7645c746ffdf11959927cdb1054dedc6bb39f44d',
    '4662fa7192fa40f19c8af8fc795b59088bf5f6923bc4ac98756c9bf46bab2420',
  ],
]);
