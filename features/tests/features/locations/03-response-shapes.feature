Feature: Location API answers are parsed leniently

  Unknown fields are ignored, missing or null fields take their defaults, and for reading stock and
  counting any 2xx body of /locations/{id} will do.

  Background:
    Given the Location API serves the retail estate

  @locations-3
  Scenario: Reading stock accepts an empty object for the location itself
    Given the Location API answers /locations/Store-001 with the body:
      """
      {}
      """
    When I send GET /locations/Store-001/products/SKU1?includeChildren=false
    Then the response is 200 with body {"locationId":"Store-001","productId":"SKU1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00"}

  @locations-3
  Scenario Outline: Reading stock accepts any 2xx body for the location itself: <body>
    Given the Location API answers /locations/Store-001 with the body:
      """
      <body>
      """
    When I send GET /locations/Store-001/products/SKU1?includeChildren=false
    Then the response is 200 with body {"locationId":"Store-001","productId":"SKU1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00"}

    Examples:
      | body                   |
      | <html>moved</html>     |
      | [1,2,3]                |
      | {"id":null,"roles":7}  |

  @locations-3
  Scenario: A count accepts an empty object for the location
    Given the Location API answers /locations/Store-001 with the body:
      """
      {}
      """
    When I send POST /locations/Store-001/products/SKU1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":7,"countedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    And the stock of "SKU1" at "Store-001" is 7.0, last updated "2024-12-07T09:00:00"

  @locations-3
  Scenario: Unknown fields and null values around the roles are ignored
    Given the Location API answers /locations/Store-001 with the body:
      """
      {"id":"Store-001","name":null,"roles":["Shop","TrackedInventoryLocation"],"createdAt":null,"children":null,"parentId":"London","extra":{"nested":[1,2,3]}}
      """
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201

  @locations-3 @api-9
  Scenario: Missing roles make a location untracked, and the path is scanned from the end for the nearest tracked entry
    Given the Location API answers /locations/Store-001 with the body:
      """
      {"id":"Store-001"}
      """
    And the Location API answers /locations/Store-001/path with the body:
      """
      [ {"id":"UK","roles":["TrackedInventoryLocation"],"colour":"red"},
        {"id":"London","name":"London","roles":["Area","TrackedInventoryLocation"]},
        {"id":"Store-001","roles":null} ]
      """
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "/locations/London/products/SKU1/sales"

  @locations-3 @api-4
  Scenario: The subtree is read with nulls and unknown fields ignored, children in the order given
    Given the Location API answers /locations/Store-001/children with the body:
      """
      {"id":"Store-001","roles":["TrackedInventoryLocation"],"colour":"red",
       "children":[ {"id":"Till B","roles":null,"children":null},
                    {"id":"Bay A","roles":["TrackedInventoryLocation"],"unknown":true} ]}
      """
    When I send GET /locations/Store-001/products/SKU1
    Then the response is 200 with a body like:
      """
      {"locationId":"Store-001","productId":"SKU1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00","totalQuantity":0.0,
       "childLocations":[{"locationId":"Till B","totalQuantity":0.0},{"locationId":"Bay A","quantity":0.0,"totalQuantity":0.0}]}
      """

  @locations-3
  Scenario: A sale uses only the roles of the location object, never its id
    Given the Location API answers /locations/Store-001 with the body:
      """
      {"id":"Central Store","roles":["TrackedInventoryLocation"]}
      """
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 201 with body {"requestId":"r1","locationId":"Store-001","productId":"SKU1","quantitySold":1.0,"soldAt":"2024-12-07T12:00:00"}
    And the stock of "SKU1" at "Store-001" is 0.0, pending -1.0, last updated "2024-12-07T12:00:00"

  @locations-3 @api-4
  Scenario: Missing ids in the subtree take the default, an empty id
    Given the Location API answers /locations/Store-001/children with the body:
      """
      {"id":null,"roles":["TrackedInventoryLocation"],"children":[{"roles":null}]}
      """
    When I send GET /locations/Store-001/products/SKU1
    Then the response is 200 with a body like:
      """
      {"locationId":"","productId":"SKU1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00","totalQuantity":0.0,"childLocations":[{"locationId":"","totalQuantity":0.0}]}
      """

  @locations-3 @api-4
  Scenario: The tree is the one the Location API reports: its root id names the pot that is read
    Given "Store-001" received a delivery of 10 "SKU1" at "2024-12-07T08:00:00"
    And the Location API answers /locations/Central%20Store/children with the body:
      """
      {"id":"Store-001","roles":["TrackedInventoryLocation"]}
      """
    When I send GET /locations/Central%20Store/products/SKU1
    Then the response is 200 with a body like:
      """
      {"locationId":"Store-001","productId":"SKU1","quantity":10.0,"lastUpdated":"2024-12-07T08:00:00","totalQuantity":10.0}
      """

  @locations-3 @api-4
  Scenario: With depth=1 the children of the answer are ignored
    Given the Location API answers /locations/Store-001/children?depth=1 with the body:
      """
      {"id":"Store-001","roles":["TrackedInventoryLocation"],"children":[{"id":"Bay A","roles":["TrackedInventoryLocation"]}]}
      """
    When I send GET /locations/Store-001/products/SKU1?includeChildren=false
    Then the response is 200 with body {"locationId":"Store-001","productId":"SKU1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00"}

  @locations-3 @api-10
  Scenario Outline: Only the status code of the health answer matters: <status> <body>
    Given the Location API always answers /health with <status> and no body
    When I send GET /health/ready
    Then the response is <ready> with body {"status":"<overall>","checks":[{"name":"locationApi","status":"<overall>"},{"name":"eventRepository","status":"UP"},{"name":"snapshotRepository","status":"UP"}]}

    Examples:
      | status | body    | ready | overall |
      | 204    | no body | 200   | UP      |
      | 404    | no body | 503   | DOWN    |

  @locations-3 @api-10
  Scenario: A health answer that says DOWN in its body still counts as up when its status is 200
    Given the Location API answers /health with the body:
      """
      {"status":"DOWN"}
      """
    When I send GET /health/ready
    Then the response is 200 with body {"status":"UP","checks":[{"name":"locationApi","status":"UP"},{"name":"eventRepository","status":"UP"},{"name":"snapshotRepository","status":"UP"}]}
