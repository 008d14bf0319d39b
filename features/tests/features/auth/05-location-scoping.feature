Feature: Tokens scoped to locations

  Background:
    Given the retail estate

  @auth-5
  Scenario: Store Stock Controller for Cambridge may not count at DC01
    Given I am a Store Stock Controller responsible for "Cambridge"
    When I count stock at "DC01"
    Then the response is 403 with body {"status":"PermissionDenied"}

  @auth-5
  Scenario: Store Stock Controller for Cambridge may count at Cambridge
    Given I am a Store Stock Controller responsible for "Cambridge"
    When I count stock at "Cambridge"
    Then the response status is 201

  @auth-5
  Scenario: Store Stock Controller for DC01 may sell at DC01
    Given I am a Store Stock Controller responsible for "DC01"
    When I record a sale at "DC01"
    Then the response status is 201

  @auth-5 @auth-4
  Scenario: Regional Stock Auditor without a location may read but not sell
    Given I am a Regional Stock Auditor
    When I read the stock at "DC01"
    Then the response status is 200
    When I record a sale at "DC01"
    Then the response is 403 with body {"status":"PermissionDenied"}

  @auth-5
  Scenario Outline: No token, a malformed one or one expired an hour ago cannot read: <token>
    Given I am a Regional Stock Auditor
    And <token>
    When I read the stock at "DC01"
    Then the response is 401 with body {"status":"Unauthorized"}

    Examples:
      | token                                             |
      | I send no Authorization header                    |
      | I send the Authorization header "Bearer garbage"  |
      | my token expired 1 hour ago                       |

  @auth-5
  Scenario: Scoping applies to System Administrators too
    Given I am a System Administrator responsible for "Cambridge"
    When I record a sale at "Store-001"
    Then the response is 403 with body {"status":"PermissionDenied"}
    When I record a sale at "Cambridge"
    Then the response status is 201

  @auth-5
  Scenario: Several locations may be named
    Given I am a Warehouse Manager responsible for "WH01", "WH02"
    When I record a delivery at "WH02"
    Then the response status is 201
    When I record a delivery at "DC01"
    Then the response status is 403

  @auth-5
  Scenario Outline: The location claim as a string, an array with other items, or absent: <claim>
    Given I am a Store Stock Controller
    And my token's "location" claim is <claim>
    When I record a sale at "<location>"
    Then the response status is <status>

    Examples:
      | claim                          | location  | status |
      | "Cambridge"                    | Cambridge | 201    |
      | "Cambridge"                    | Store-001 | 403    |
      | [42, "Cambridge", null, true]  | Cambridge | 201    |
      | [42, "Cambridge", null, true]  | store3    | 403    |
      | []                             | store3    | 201    |
      | 42                             | store3    | 201    |
      | {"id":"Cambridge"}             | store3    | 201    |
      | null                           | store3    | 201    |
      | ["cambridge"]                  | Cambridge | 403    |
      | ["Cambridge "]                 | Cambridge | 403    |

  @auth-5
  Scenario: The scope is compared with the percent-decoded location
    Given I am a Store Stock Controller responsible for "Central Store"
    When I send POST /locations/Central%20Store/products/Olive%20Oil/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201

  @auth-5 @domain-4
  Scenario: A read at an ancestor in scope returns the aggregate of all its descendants
    Given "Store-001" received a delivery of 12 "p1" at "2024-12-07T08:00:00"
    And "Cambridge" received a delivery of 3 "p1" at "2024-12-07T08:00:00"
    And I am a Regional Stock Auditor responsible for "London"
    When I send GET /locations/London/products/p1?includeChildren=true
    Then the response status is 200
    And the total of "p1" at "London" is 15.0
    When I send GET /locations/Store-001/products/p1
    Then the response is 403 with body {"status":"PermissionDenied"}

  @auth-5 @api-7
  Scenario: Only a move's source is checked against the scope
    Given "WH01" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    And I am a Warehouse Manager responsible for "WH01"
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Store-001","quantity":4,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    Given I am a Store Stock Controller responsible for "Store-001"
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m2","destinationLocationId":"Store-001","quantity":4,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 403 with body {"status":"PermissionDenied"}

  @auth-5 @api-9
  Scenario: A write at an untracked location in scope is redirected, scope notwithstanding
    Given I am a Store Stock Controller responsible for "Till 1"
    When I record a sale at "Till 1"
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "/locations/Central%20Store/products/p1/sales"
